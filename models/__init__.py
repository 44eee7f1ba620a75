"""Model manifests (name, input, output layout, labels, sha256, licence, download URL); weights live elsewhere."""
