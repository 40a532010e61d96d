"""Dataset builders (FERBench, UniFER-CoT, UniFER-RLVR, folder ingest) and SynFER synthetic faces."""
