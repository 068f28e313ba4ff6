"""exmy.hdl"""
