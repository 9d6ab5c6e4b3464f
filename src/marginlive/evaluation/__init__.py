"""Metrics (the paper's and ISO/IEC 30107-3's) and reports."""
