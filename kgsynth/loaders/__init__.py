"""kgsynth.loaders"""
