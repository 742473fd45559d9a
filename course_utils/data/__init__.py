"""Data sets held as uint8 tensors on the training device (``loader``), one module per data set
(``mnist``, ``cifar``, ``hotdog``, ``photos`` for any photo folder), and what they share: safe
downloads, strict image folders, the smoke run's subsets and stand-ins, and errors that say
which files are missing and where they go."""
