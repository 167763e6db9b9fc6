"""Identity resolution: link an external record to a person in the core record (issue 12).

`features` normalises records and defines the comparisons (the same levels as SQL for Splink and as
Python for the hub), `model` loads a trained Fellegi–Sunter model and scores pairs exactly as Splink
would, `blocking` finds candidates with indexed Cypher, `decision` turns scores into AUTO_LINK /
REVIEW / NO_LINK, `links` persists the outcome with its explanation, and `resolver` ties them together
for one incoming record. Training (Splink on DuckDB) lives in `hub.linkage`: nothing here imports it.
"""
