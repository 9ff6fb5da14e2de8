"""Random walks (the dyGRASS primitive) and where they run: Numba, NumPy, CuPy."""
