"""exmy.cli"""
