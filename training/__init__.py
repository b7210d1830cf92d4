"""Offline training: dataset analysis, building and fine-tuning."""
