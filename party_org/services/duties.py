"""State changes of party_org: duties."""
