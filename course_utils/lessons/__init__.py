"""What one lesson needs and a notebook cell would drown in: 02's permutation experiment, 03's
reshaped-VGG recipe and profiling, 04's layer arithmetic, 05's fine-tuning strategies and
checkpoints, the test-time mistakes of 03, 05 and 06."""
