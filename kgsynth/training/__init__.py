"""kgsynth.training"""
