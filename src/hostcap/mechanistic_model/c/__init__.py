"""C source of the lane integrator (package data; see ``lane_solver``)."""
