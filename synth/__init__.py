"""exmy.synth"""
