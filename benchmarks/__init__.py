"""hostcap benchmarks: `make bench` runs them all and writes results under benchmarks/results/."""
