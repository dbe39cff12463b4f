"""What several test modules share: real repositories, processes, stand-ins."""
