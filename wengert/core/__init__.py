"""The core: tensors, the graph of op nodes, and reverse-mode backprop. Imports no upper layer."""
