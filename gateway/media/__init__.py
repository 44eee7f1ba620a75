"""Media (snapshots, clips, photos, live-view segments) in an S3 object store; PostgreSQL keeps the metadata."""
