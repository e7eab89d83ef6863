enum GraphPlaceholder {}
