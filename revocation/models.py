# Revocation attempts and manual tasks live here (see the revocation engine).
