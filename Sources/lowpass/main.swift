print("lowpass")
