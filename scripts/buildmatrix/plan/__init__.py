"""``invoke plan``: what building a selection costs, before anything runs.

predict: derivations to build and the plan; cost: core-hours per derivation class;
schedule: builder fleets, makespan and critical path; cache: what the local store and binary
caches hold already; since: ``plan --since REV``, what an edit rebuilds.
"""
