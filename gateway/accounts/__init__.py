"""Who is calling: users (argon2 passwords, roles, a region subtree), their expiring tokens, edge tokens, and
the audit log of what they did."""
