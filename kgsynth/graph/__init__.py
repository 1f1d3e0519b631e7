"""kgsynth.graph"""
