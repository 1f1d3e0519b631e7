"""kgsynth.generation"""
