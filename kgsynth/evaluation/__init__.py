"""kgsynth.evaluation"""
