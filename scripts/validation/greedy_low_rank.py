"""stub"""

STUDIES = {
}
