from kgsynth.cli import main

main()
