"""State changes of party_org: members."""
