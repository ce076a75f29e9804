"""What every layer shares: the data types, fps, IMAGE helpers, input checks and progress."""
