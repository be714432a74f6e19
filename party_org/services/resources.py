"""State changes of party_org: resources."""
