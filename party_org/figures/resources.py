"""Figures of party_org: resources."""
