terraform {
  required_version = ">= 1.9.0" # validations naming other variables (scheduler's rules)
}
