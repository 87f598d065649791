from traintriage.cli import main

main()
