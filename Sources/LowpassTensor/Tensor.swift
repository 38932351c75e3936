import LowpassIR
