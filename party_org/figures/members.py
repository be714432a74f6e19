"""Figures of party_org: members."""
