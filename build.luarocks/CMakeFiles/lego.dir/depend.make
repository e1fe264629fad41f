# Empty dependencies file for lego.
# This may be replaced when dependencies are built.
