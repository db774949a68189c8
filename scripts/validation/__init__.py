"""The paper-validation studies of scripts/validate.py, one module per paper."""
