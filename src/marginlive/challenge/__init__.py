"""Behavioural confirmation: random challenges checked on pose and face landmarks."""
