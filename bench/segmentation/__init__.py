"""Downstream segmentation: networks (U-Net, Attention U-Net, TransUNet), augmentation, training, evaluation."""
