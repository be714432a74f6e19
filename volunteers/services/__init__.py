"""State changes of volunteers, one module per area: wishes (micro-wishes), ledger (points),
activities, mall, people (volunteers and teams), honours. Every function takes the acting user
first (None for a resident, a member or volunteer on their own page, or the system)."""
