"""Pipeline steps: one small module each, one signature ``(image, job) -> image``, guard first."""
