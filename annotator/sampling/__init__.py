"""Sample and assign: Cochran sizes, seeded stratified draws, top-up, rounds for coders."""
