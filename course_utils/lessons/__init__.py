"""What one lesson needs and a notebook cell would drown in."""
