"""The Redis side shared by the gateway and the workers: key names, job names, reply queue.

Neither the gateway nor the workers import each other; both speak through the names and
scripts defined here.
"""
