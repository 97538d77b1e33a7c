"""The package's architecture: data flows one way through the stages and no modules import
each other in a circle. Read from the source of the ftprobe that is imported; needs no fixture.
"""
