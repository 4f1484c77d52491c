"""The revenue app's public surface: the only module of it that other apps may import."""
