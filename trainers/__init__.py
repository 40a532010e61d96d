"""SFT and GRPO trainers for UniFER, FER rewards, recipes and accelerate configs."""
