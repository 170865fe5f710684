/// LoRA fine-tuning of a llama-family GGUF model on the CPU.
public enum Training {}
