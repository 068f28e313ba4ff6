"""exmy.sim"""
