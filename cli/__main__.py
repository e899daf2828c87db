from matd.cli.main import main

main()
