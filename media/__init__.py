"""Video files in and out, and the synthetic clips the demo and the tests are made from."""
